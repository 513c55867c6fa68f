"""io/sinks"""
