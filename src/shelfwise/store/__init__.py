"""The operational system: the only place where business state changes."""
