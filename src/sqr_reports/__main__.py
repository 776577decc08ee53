from sqr_reports.cli import main

raise SystemExit(main())
