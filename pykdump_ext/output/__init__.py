"""Views of the typed results (text, JSON, HTML); the results themselves stay pure data."""
