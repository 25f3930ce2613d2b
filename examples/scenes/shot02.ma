//Maya ASCII 2025 scene
//Name: shot02.ma
//Codeset: UTF-8
requires maya "2025";
currentUnit -l centimeter -a degree -t film;
fileInfo "application" "maya";
createNode transform -s -n "persp";
createNode camera -s -n "perspShape" -p "persp";
createNode transform -n "pCube1";
createNode mesh -n "pCubeShape1" -p "pCube1";
// end of shot02.ma
