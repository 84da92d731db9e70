"""What the decoded capture means: topology, links, error paths, the verdict."""
