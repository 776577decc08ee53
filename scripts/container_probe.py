"""What the processes of a container are doing, from /proc alone: for CI's diagnostics when a
request to a container goes unanswered (scripts/container-ci.sh pipes this into
`podman exec -i <container> python -`).

Prints each process (command line, state), each of its threads (name, state, the system call
it is in), its open sockets, and the container's TCP and UDP sockets with their
states and peers, and its resolv.conf: enough to tell a process blocked in the kernel from
one waiting on a peer, and a connection that never completed from a name that never resolved.
Standard library only: the image has nothing else to offer.
"""

from __future__ import annotations

import os
import platform
import socket
import struct
from pathlib import Path

#: Whether the numbers below apply: other architectures number their system calls otherwise,
#: and get the number printed as it is.
X86_64 = platform.machine() == "x86_64"
#: x86_64 numbers of the system calls a stuck thread is usually found in.
SYSCALLS = {
    "0": "read", "1": "write", "7": "poll", "23": "select", "35": "nanosleep", "42": "connect",
    "43": "accept", "44": "sendto", "45": "recvfrom", "61": "wait4", "202": "futex",
    "128": "rt_sigtimedwait", "230": "clock_nanosleep", "232": "epoll_wait", "270": "pselect6",
    "271": "ppoll", "281": "epoll_pwait", "288": "accept4",
}  # fmt: skip
TCP_STATES = {
    "01": "ESTABLISHED", "02": "SYN_SENT", "03": "SYN_RECV", "04": "FIN_WAIT1",
    "05": "FIN_WAIT2", "06": "TIME_WAIT", "07": "CLOSE", "08": "CLOSE_WAIT",
    "09": "LAST_ACK", "0A": "LISTEN", "0B": "CLOSING",
}  # fmt: skip


def read(path: Path) -> str:
    try:
        return path.read_text(errors="replace").strip()
    except OSError as exc:
        return f"<{exc.strerror}>"


def address(text: str) -> str:
    host, port = text.split(":")
    raw = bytes.fromhex(host)
    if len(raw) == 4:
        return f"{socket.inet_ntop(socket.AF_INET, raw[::-1])}:{int(port, 16)}"
    words = struct.unpack("<4I", raw)
    return f"[{socket.inet_ntop(socket.AF_INET6, struct.pack('>4I', *words))}]:{int(port, 16)}"


def sockets() -> dict[str, str]:
    """inode -> 'proto local -> remote STATE' for every TCP and UDP socket of the namespace."""
    found = {}
    for proto in ("tcp", "tcp6", "udp", "udp6"):
        lines = read(Path(f"/proc/net/{proto}")).splitlines()[1:]
        for line in lines:
            fields = line.split()
            local, remote, state, inode = fields[1], fields[2], fields[3], fields[9]
            label = TCP_STATES.get(state, state) if proto.startswith("tcp") else f"state {state}"
            found[inode] = f"{proto} {address(local)} -> {address(remote)} {label}"
    return found


def process(pid: str, by_inode: dict[str, str]) -> None:
    base = Path("/proc") / pid
    command = read(base / "cmdline").replace("\0", " ")
    state = next((s for s in read(base / "status").splitlines() if s.startswith("State:")), "")
    print(f"pid {pid}: {command} ({state.removeprefix('State:').strip()})")
    for task in sorted((base / "task").glob("*"), key=lambda p: int(p.name)):
        task_state = "".join(read(task / "stat").rsplit(")", 1)[-1].split()[:1])
        syscall = read(task / "syscall")  # "running" when on a CPU; "<reason>" if unreadable
        call = syscall if syscall.startswith("<") else syscall.split()[0]
        call = SYSCALLS.get(call, call) if X86_64 else call
        print(f"  thread {task.name} {read(task / 'comm')!r} {task_state} in {call}")
    for fd in (base / "fd").glob("*"):
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inode = target[len("socket:[") : -1]
            print(f"  fd {fd.name}: {by_inode.get(inode, target)}")


def main() -> None:
    by_inode = sockets()
    for pid in sorted((p for p in os.listdir("/proc") if p.isdigit()), key=int):
        if pid != str(os.getpid()):
            process(pid, by_inode)
    print("sockets of the container:")
    for description in sorted(by_inode.values()):
        print(f"  {description}")
    print("resolv.conf:")
    print("  " + read(Path("/etc/resolv.conf")).replace("\n", "\n  "))


if __name__ == "__main__":
    main()
