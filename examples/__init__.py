"""Example sites that embed chat."""
