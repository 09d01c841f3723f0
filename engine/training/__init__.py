"""Training: the frozen config, the loop, augmentation, recipes, devices and DDP."""
