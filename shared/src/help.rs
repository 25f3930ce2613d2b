//! help.txt: the grammar, short enough for a phone.

pub const HELP: &str = "\
droprender commands: one per line in commands.txt

RENDER
rend:render -r sw -s 1 -e 10 scenes/shot01.mb
rend:blender -s 1 -e 10 shot.blend
  Maya flags: -r -s -e -b -pad -rfs -rfb -cam -rl
   -x -y -percentRes -rd -im -of -fnc -proj -verb
   -skipExistingFrames, threads: -n -ai:threads
   -threads -t, arnold: -ai:lve
  Blender: -s -e -F -t -E -res WxH -cam NAME
  job options, anywhere in the line:
   after=12      start when job 12 has finished
   priority=high high|normal|low|-100..100
   timeout=2h    stop a render that runs longer
   retries=2     retry after a failure or stall

QUEUE
progress:          newest frame -> preview.jpg
cancel: 12         stop or drop job 12
cancel: all        everything
pause:             finish the current job, then hold
resume:            release the queue
suspend: 12        freeze a running render
resume: 12         continue it
priority: 12 high  reorder queued jobs
retry: 12          requeue; only missing frames render
status:            rewrite status.txt now
help:              write this file

rend@box2:...      send a line to the node box2

Job numbers are the ones in status.txt.
Lines starting with # are comments.
To run a command again, add it again.
";
