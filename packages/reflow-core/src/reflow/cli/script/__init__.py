"""The command line generated for a workflow script (``wf.cli()``): parser, values and actions."""
