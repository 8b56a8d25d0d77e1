"""The cache oracle: a cached rerun returns exactly what a forced rerun returns.

A wrong cache hit is the worst bug reflow can have (design §6). These tests
play a user who edits a project between two runs, in every way we could
think of, and compare three runs of the whole workflow, each a subprocess
with the project directory as its working directory:

1. a cold run, whose value must be the one the original code gives;
2. after the edit, a cached run;
3. a run with ``--force``, whose value must be the one the edited code gives.

The cached value must equal the forced one. The same cases run under
``python pipeline.py run`` and ``python pipeline.py submit --executor local
--wait`` (:data:`harness.COMMANDS`). The other side is checked too: an edit
that changes nothing a task computes (a comment, formatting, another task)
must leave the task a hit, which the tasks prove by appending their name to
a call log each time their code runs.

Modules
-------
harness
    The project, its commands, the three runs (:func:`harness.trial`) and
    the checks (:meth:`harness.Trial.check_edit`, :meth:`harness.Trial.check_hit`).
batch
    Many cases in one project, renamed apart, so that each command runs three
    times per test module rather than three times per case.
conftest
    The ``trials`` fixture: a test module's batch, run once per command.
test_code_edits
    Edits of the code a task reaches: helpers, decorators, partials, aliases,
    constants, classes, modules of the user's package.
test_unchanged_code
    Edits that must stay cache hits.
test_file_edits
    Files named by ``Path`` parameters and files tasks write and return.
test_queued_and_retry
    The script edited while a submitted run's jobs wait, and before ``retry``.

Known failures
--------------
Every case passes on today's code. A case added for a gap that is not
fixed yet is marked (``fixed_by="<what fixes it>"`` on its
:class:`batch.Case`), which makes it
``xfail(strict=True, raises=CacheMismatchError, reason="issue 13: <part>")``:
when the fix lands the case passes, strict xfail turns that into a failure,
and the mark must go. Only an :class:`harness.CacheMismatchError` counts as
the expected failure: a broken set-up (a command that fails, a wrong cold
value) fails the test for real.

Adding a case: add a :class:`batch.Case` to a module's ``CASES`` (the
project's files, the edit as a :func:`harness.replace` or a
:class:`harness.Rewrite`, the values the code gives before and after), run
it, and mark it (``fixed_by``) only if it fails. Run a marked
case with ``--runxfail`` to see that it fails for the reason it names.
"""
