"""Config rendering: WireGuard/AWG text, AWG parameters and generators, keys, naming."""
