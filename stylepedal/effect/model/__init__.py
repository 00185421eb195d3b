"""The style model: Gram features and losses, the causal network (torch, for training), its
torch-free streaming inference (:mod:`.stream`), the content corpus and training. Nothing here
parses arguments or touches the preset store."""
