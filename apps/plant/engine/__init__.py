"""The plant's physics, clock and shapes: no Django, and nothing of the control room's own state."""
