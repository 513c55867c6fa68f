"""functions/builtin"""
