"""downloads domain: node config downloads and bulk config packages."""
