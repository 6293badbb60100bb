"""Pure rules of the community: no I/O, no SDKs, standard library only."""
