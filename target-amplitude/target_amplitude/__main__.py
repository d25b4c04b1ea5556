from target_amplitude.target import TargetAmplitude

TargetAmplitude.cli()
