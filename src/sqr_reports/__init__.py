"""SQR's PDF Report API: asynchronous identity-verification PDF reports for connected SQR users."""

__version__ = "0.1.0"
