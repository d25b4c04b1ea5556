"""Local emulators of the Amplitude and Brevo HTTP APIs, for demos, tests and benchmarks."""
