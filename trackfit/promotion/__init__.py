"""Promotion: the gate, the team's exam and the policy that moves the alias ``champion``."""
