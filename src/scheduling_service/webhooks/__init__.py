"""The Cal.com webhook: verify, record, deduplicate, match and apply each delivery."""
