"""stylepedal.effect."""
