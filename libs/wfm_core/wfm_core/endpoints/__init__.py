"""Dynamic endpoints: client bind, control, runtime status and presence."""
