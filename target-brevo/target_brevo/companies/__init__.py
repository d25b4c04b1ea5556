"""Companies: Amplitude groups (accounts) as Brevo companies, with their contacts linked."""
