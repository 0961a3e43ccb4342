"""sasmamba_cli.render"""
