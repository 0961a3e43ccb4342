"""sasmamba_cli.mocap"""
