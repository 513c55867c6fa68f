"""io/sources"""
