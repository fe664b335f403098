"""Neural networks: the CNN classifier, the PELS-VAE and their shared convolution kernels."""
