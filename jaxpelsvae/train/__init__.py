"""Training engine: losses, train state, jit step factories, gradient masks, checkpoints, sharding."""
