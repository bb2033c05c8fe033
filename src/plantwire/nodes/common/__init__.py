"""Building blocks shared by node families (polling coordinator, value messages). No node types."""
