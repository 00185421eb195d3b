"""stylepedal.host."""
