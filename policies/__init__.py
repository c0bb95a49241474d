"""Rule packs shipped with sellerpolicy, one folder per marketplace."""
