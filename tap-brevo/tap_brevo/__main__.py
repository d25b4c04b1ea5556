from tap_brevo.tap import TapBrevo

TapBrevo.cli()
