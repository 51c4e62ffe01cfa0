"""Reports: the leaderboard, its charts, report.html and evaluation.json."""
