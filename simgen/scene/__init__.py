"""The scene as plain data: what a recipe returns and the renderer draws (data.py: Scene, SceneObject,
Camera, Light, Material, World, Physics; meshes.py: what an object's mesh is; transforms.py: rigid
transforms). No Blender."""
