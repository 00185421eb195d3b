"""stylepedal.presets."""
