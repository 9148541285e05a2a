"""The reports side of the API: scores, recommendations, runs and exports.

Keep this package's __init__ free of imports: DRF imports ``common.api`` while it
defines APIView, so nothing here may import DRF views.
"""
