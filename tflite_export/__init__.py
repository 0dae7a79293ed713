"""Layer 5: conversion to TFLite and running artifacts in LiteRT."""
