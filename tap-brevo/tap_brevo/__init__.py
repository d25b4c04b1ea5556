"""tap-brevo: Brevo email engagement (webhooks and the transactional events report) as a Singer tap."""
