"""Organizations and their cohorts, with the cohorts' Cal.com webhook secrets."""
