"""scheduling-service: interview scheduling for cohort programs, driven by Cal.com webhooks."""
