"""HTTP that every request meets, whatever its route: bounds on its size, the answer to a full
disk."""
