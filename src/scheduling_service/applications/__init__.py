"""Applications: one applicant in one cohort, their status, interview and history."""
