"""The Paper Banana API as a backend: settings, client, retry policy, rate limit, reconciliation.

Only :mod:`.client` loads ``requests``; import the others freely.
"""
