from tap_amplitude.tap import TapAmplitude

TapAmplitude.cli()
