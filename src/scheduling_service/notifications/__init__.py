"""Admin alerts: the transactional outbox, its dispatcher, the SMTP sender, the messages."""
