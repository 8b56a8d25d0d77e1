"""The engines that advance runs.

:mod:`.local` runs a whole workflow on this machine (``run_local``); :mod:`.scheduler`
advances submitted runs through dispatcher jobs.
"""
