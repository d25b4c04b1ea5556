from tap_amplitude.streaming.tap import TapAmplitudeStreaming

TapAmplitudeStreaming.cli()
