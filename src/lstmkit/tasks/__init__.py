"""Classic experiments: a generator, a success criterion and the paper's numbers each."""
