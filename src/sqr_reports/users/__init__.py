"""SQR users (data subjects), their connections to orgs and their ongoing-monitoring events."""
