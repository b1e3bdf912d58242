"""Lattice-gas model of molecular sorting: KMC simulator, domain analysis, sweeps, fate data."""
